"""Email templates, step mail, scenarios, sends, unsubscribe and bounces."""
