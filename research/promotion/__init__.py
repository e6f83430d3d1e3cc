"""Promotion of deployments: the lifecycle and its gates, the deployment spec, and the
deployment registry in the catalog."""
