"""Learn: the seed tutorials as lessons a learner does, one idea and one live widget per step."""
