"""Monitoring: what runs in production and how it behaves (deployments; later drift,
windows, performance). A capability layer below the servers and above the models."""
