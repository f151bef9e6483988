"""Local Kubernetes control plane for development and tests."""
