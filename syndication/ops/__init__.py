"""What ops read: the status of queues, workers, partners and dead work, in one pass over Redis."""
