-- gRPC backends: their descriptors and the services offered, as the
-- protobuf GrpcServices message (base64), exactly what data planes get.
-- Empty for other backends.
ALTER TABLE backends ADD COLUMN grpc_services TEXT NOT NULL DEFAULT '';
