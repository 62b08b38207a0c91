"""PyBullet simulation: the ground-truth world, cameras and the task suite."""
