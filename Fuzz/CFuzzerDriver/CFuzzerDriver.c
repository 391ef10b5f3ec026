// Intentionally empty: the target exists for the declaration in include/CFuzzerDriver.h.
