"""What the commitments service keeps for the gateway's CRM connectors: the notifications
awaiting a fetch (`notifications`) and the gate owed to each CRM deal (`writebacks`)."""
