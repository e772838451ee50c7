"""Visitors, visits, events, the snippet, pixel and collect endpoint, forms and popups."""
