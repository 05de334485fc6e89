pytest_plugins = ["lifelong_reid.testing"]
