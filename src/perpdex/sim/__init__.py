"""The exchange emulator core: one venue-agnostic engine under each exchange's wire dialect."""
