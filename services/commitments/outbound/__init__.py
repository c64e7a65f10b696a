"""Events out, delivered: webhook subscriptions (`subscriptions`), where Dealgate may send
(`destinations`) and the dispatcher that sends what the outbox holds (`dispatcher`).

The outbox itself (`services.commitments.outbox`) is written by the changes; everything here
runs after their transactions, never on a request's path.
"""
