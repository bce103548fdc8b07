//! Prompt templates in Jinja2 syntax (`Hello, {{ user }}!`, as Context
//! Forge writes them), rendered with minijinja. Undefined variables are
//! errors, not empty text; rendering is bounded (fuel), since arguments come
//! from clients.

use mcpgw_proto::v1::{OwnedPrompt, PromptArgument};
use minijinja::{Environment, UndefinedBehavior};
use serde_json::{Map, Value, json, value::RawValue};

/// Instructions one rendering may run: far more than any prompt needs, few
/// enough that a loop over a client's argument cannot hold a core.
const FUEL: u64 = 100_000;
/// Longest rendered text.
const MAX_RENDERED: usize = 1 << 20;

/// A compiled prompt.
pub struct Prompt {
    name: String,
    description: String,
    env: Environment<'static>,
    /// The arguments a caller must give.
    required: Vec<String>,
}

/// Why a prompt could not be rendered; each is the caller's to fix.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("Missing required argument {0:?} for prompt {1:?}")]
    Missing(String, String),
    #[error("The arguments of prompt {0:?} must be an object of strings")]
    NotAnObject(String),
    #[error("Prompt {0:?} could not be rendered: {1}")]
    Render(String, String),
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    env
}

/// Where a template error is, for a person: line and column, and what.
fn describe(source: &str, e: &minijinja::Error) -> String {
    let what = e.detail().map_or_else(|| e.kind().to_string(), str::to_owned);
    let line = e.line().unwrap_or(1);
    let column = e.range().map_or(1, |r| {
        let start = r.start.min(source.len());
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        source[line_start..start].chars().count() + 1
    });
    format!("the template has an error at line {line}, column {column}: {what}")
}

/// The variables `template` uses that it does not set itself, sorted.
fn variables(env: &Environment<'static>) -> Result<Vec<String>, String> {
    let t = env.get_template("prompt").map_err(|e| e.to_string())?;
    // Functions such as `range` are globals, not arguments.
    let globals: std::collections::HashSet<&str> = env.globals().map(|(name, _)| name).collect();
    let mut vars: Vec<String> = t
        .undeclared_variables(false)
        .into_iter()
        .filter(|v| !globals.contains(v.as_str()))
        .collect();
    vars.sort_unstable();
    Ok(vars)
}

/// The arguments `p` lists: as declared, or else every variable its
/// template uses, each required.
fn arguments(p: &OwnedPrompt, env: &Environment<'static>) -> Result<Vec<PromptArgument>, String> {
    if !p.arguments.is_empty() {
        return Ok(p.arguments.clone());
    }
    Ok(variables(env)?
        .into_iter()
        .map(|name| PromptArgument {
            name,
            description: String::new(),
            required: true,
        })
        .collect())
}

fn compile_env(p: &OwnedPrompt) -> Result<Environment<'static>, String> {
    let mut env = environment();
    env.add_template_owned("prompt", p.template.clone())
        .map_err(|e| describe(&p.template, &e))?;
    Ok(env)
}

/// The prompt's definition as `prompts/list` shows it.
pub(super) fn definition(p: &OwnedPrompt) -> Result<String, String> {
    let env = compile_env(p)?;
    let args: Vec<Value> = arguments(p, &env)?
        .iter()
        .map(|a| {
            let mut o = json!({"name": a.name, "required": a.required});
            if !a.description.is_empty() {
                o["description"] = json!(a.description);
            }
            o
        })
        .collect();
    let mut def = json!({"name": p.name, "arguments": args});
    if !p.description.is_empty() {
        def["description"] = json!(p.description);
    }
    Ok(def.to_string())
}

impl Prompt {
    pub fn compile(p: &OwnedPrompt) -> Result<Self, String> {
        if p.template.is_empty() {
            return Err(format!("prompt {:?} needs a template", p.name));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(a) = p.arguments.iter().find(|a| a.name.is_empty() || !seen.insert(&a.name)) {
            return Err(format!(
                "prompt {:?}: argument names must be given and distinct ({:?})",
                p.name, a.name
            ));
        }
        let env = compile_env(p)?;
        let required = arguments(p, &env)?
            .into_iter()
            .filter(|a| a.required)
            .map(|a| a.name)
            .collect();
        Ok(Self {
            name: p.name.clone(),
            description: p.description.clone(),
            env,
            required,
        })
    }

    /// The `prompts/get` result for `arguments` (a JSON object or absent):
    /// the rendered text as one user message.
    pub fn render(&self, arguments: Option<&RawValue>) -> Result<String, PromptError> {
        let args: Map<String, Value> = match arguments.map(|a| serde_json::from_str(a.get())) {
            None => Map::new(),
            Some(Ok(Value::Object(m))) => m,
            Some(Ok(Value::Null)) => Map::new(),
            Some(_) => return Err(PromptError::NotAnObject(self.name.clone())),
        };
        if let Some(missing) = self.required.iter().find(|r| !args.contains_key(r.as_str())) {
            return Err(PromptError::Missing(missing.clone(), self.name.clone()));
        }
        let template = self
            .env
            .get_template("prompt")
            .map_err(|e| PromptError::Render(self.name.clone(), e.to_string()))?;
        let text = template.render(&args).map_err(|e| {
            let what = e.detail().map_or_else(|| e.kind().to_string(), str::to_owned);
            PromptError::Render(self.name.clone(), what)
        })?;
        if text.len() > MAX_RENDERED {
            return Err(PromptError::Render(
                self.name.clone(),
                format!("the text is over {MAX_RENDERED} bytes"),
            ));
        }
        let mut result = json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
        });
        if !self.description.is_empty() {
            result["description"] = json!(self.description);
        }
        Ok(result.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(template: &str) -> OwnedPrompt {
        OwnedPrompt {
            name: "greet".into(),
            template: template.into(),
            ..Default::default()
        }
    }

    fn raw(v: Value) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    #[test]
    fn a_template_renders_its_arguments_and_names_a_missing_one() {
        let p = Prompt::compile(&prompt("Hello, {{ user }}!")).unwrap();
        let out: Value = serde_json::from_str(&p.render(Some(&raw(json!({"user": "Ada"})))).unwrap()).unwrap();
        assert_eq!(out["messages"][0]["content"]["text"], "Hello, Ada!");
        assert_eq!(out["messages"][0]["role"], "user");
        let e = p.render(Some(&raw(json!({})))).unwrap_err();
        assert!(matches!(&e, PromptError::Missing(a, _) if a == "user"), "{e}");
        assert!(e.to_string().contains("\"user\""), "{e}");
        assert!(matches!(
            p.render(Some(&raw(json!([1])))),
            Err(PromptError::NotAnObject(_))
        ));
    }

    #[test]
    fn arguments_are_derived_from_the_template_unless_declared() {
        let def: Value =
            serde_json::from_str(&definition(&prompt("{{ b }} and {{ a }}{% set c = 1 %}{{ c }}")).unwrap()).unwrap();
        assert_eq!(
            def["arguments"],
            json!([{"name": "a", "required": true}, {"name": "b", "required": true}])
        );
        let mut declared = prompt("Hi {{ name }}{% if title is defined %}, {{ title }}{% endif %}");
        declared.arguments = vec![
            PromptArgument {
                name: "name".into(),
                description: "who".into(),
                required: true,
            },
            PromptArgument {
                name: "title".into(),
                description: String::new(),
                required: false,
            },
        ];
        let p = Prompt::compile(&declared).unwrap();
        let out = p.render(Some(&raw(json!({"name": "Bo"})))).unwrap();
        assert!(out.contains("Hi Bo\""), "{out}");
    }

    #[test]
    fn a_syntax_error_is_refused_with_its_line_and_column() {
        let e = Prompt::compile(&prompt("line one\nHello, {{ user }!")).err().unwrap();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("column"), "{e}");
    }

    #[test]
    fn rendering_is_bounded() {
        let p = Prompt::compile(&prompt("{% for i in range(100000000) %}x{% endfor %}")).unwrap();
        let r = p.render(None);
        assert!(matches!(r, Err(PromptError::Render(..))), "{:?}", r.map(|s| s.len()));
    }
}
