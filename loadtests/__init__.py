"""Locust load tests: user classes, shapes (stages as data), thresholds (k6-style).

HTTP only, through the load balancer: nothing here imports service code.
"""
