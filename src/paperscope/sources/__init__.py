"""Sources: each module yields Paper records (and Skipped notes) and knows nothing of the store."""
