"""Score rules, the rolling-window score, ranks, hot-lead alerts, weekly HOT lists."""
