"""The Slurm backend: a job folder's runner started by sbatch/srun instead of a local process.

The job folder, status.json, metrics and checkpoints are the same as a local job's; status.json
records `backend = "slurm"` and the Slurm job id, and the job's state adds what squeue says.
"""
