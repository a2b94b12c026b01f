"""Grafana dashboards generated from code (see build.py); the JSON beside this is its output."""
