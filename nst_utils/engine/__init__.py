"""What makes runs fast and safe, not course material: the speed tricks behind the one
``Settings.fast`` switch, memory estimates, how idle CPU threads wait, timing a run."""
