"""Starting a finetune: the launch form, its Slurm choice and the learning-rate finder."""
