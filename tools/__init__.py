"""What you do with a trained network: architecture search, export, serving."""
