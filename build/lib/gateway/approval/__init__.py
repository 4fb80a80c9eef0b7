"""The approvers' web app: login, queue, detail, decisions, sender status page and JSON API."""
