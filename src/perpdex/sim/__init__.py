"""The exchange emulator core: one venue-agnostic engine under each exchange's wire dialect
(``perpdex.sim.venues.<name>``)."""
