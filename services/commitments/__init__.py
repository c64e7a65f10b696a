"""The commitments service: deals, the promises in them, evaluations and decisions (issue 3;
being built: the review lifecycle is in place, the app is not yet)."""
