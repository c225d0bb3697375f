"""``worldgen verify`` (:func:`.verify.verify_world`): USD validators and the physics drop test;
options in :mod:`.verify_cfg`.

Nothing is re-exported here (one import path per symbol): import from the modules.
The list names them; ``from package import *`` loads them all (heavy libraries stay
inside the functions that use them).
"""

__all__ = [
    "drop_test",
    "validators",
    "verify",
    "verify_cfg",
]
