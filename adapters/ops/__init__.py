"""Operations: alerts, the audit log, and the status a runner publishes."""
