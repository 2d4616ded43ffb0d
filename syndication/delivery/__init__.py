"""Delivery: records, response classes, backoff, schedule, HTTP and the push itself."""
