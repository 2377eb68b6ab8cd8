"""Local stand-ins for the networks and channels, used by the tests."""
