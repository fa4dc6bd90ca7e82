"""Analytics: aggregates and pseudonymous views of customers (what analysts see)."""
