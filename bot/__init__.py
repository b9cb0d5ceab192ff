"""The newcomer bot: dialogue core, channels and services."""
