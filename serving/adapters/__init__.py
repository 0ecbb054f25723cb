"""Adapters: the real implementations of the serving ports (key store, roster,
commission engine, models, features). Only `serving.bootstrap` picks them."""
