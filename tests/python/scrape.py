"""Scrapes a Prometheus endpoint and prints its samples as one JSON line.

The text is parsed by the official Python client's OpenMetrics parser,
which refuses anything that is not valid OpenMetrics (a missing `# EOF`,
a sample without its family, a bad label): the test reads what a real
scraper would.

Usage: scrape.py URL
"""

import json
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families


def main() -> None:
    with urllib.request.urlopen(sys.argv[1], timeout=30) as res:
        content_type = res.headers.get("content-type", "")
        text = res.read().decode()
    families = {}
    samples = []
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for s in family.samples:
            samples.append({"name": s.name, "labels": s.labels, "value": s.value})
    print(json.dumps({"content_type": content_type, "families": families, "samples": samples}))


if __name__ == "__main__":
    main()
