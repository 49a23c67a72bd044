"""Generated protobuf and gRPC modules (see regen.py). Do not edit."""
