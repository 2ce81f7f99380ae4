#!/bin/bash
# Dataset mode as a SLURM job array: task k of N explains every N-th file of the folder (shard k/N)
# into its own run folder. A second job, started once every task has ended, merges the shards into
# one run folder. No Dask is needed. See docs/cluster.md.
#
# On the login node, in the environment that has xaidesk (the jobs inherit it), run
#     bash recipes/slurm-array.sh
# It submits the array, and the merge job to start once every task has ended well. Submitting it
# with sbatch instead runs the array alone; merge by hand afterwards (the last line of the first branch).
#
# Set these:
#   INPUT    the folder of images or sound clips, on a file system every node sees
#   RUNS     where the shard run folders go (one per task), also shared
#   OUT      the merged run folder (new or empty)
#   MODEL    the model spec; its file must be readable from every node
#   METHODS  method names separated by commas ('xaidesk methods' lists them)
#   DEVICE   cpu or cuda (with cuda, also ask for a GPU per task: #SBATCH --gres=gpu:1)
#   SHARDS   the number of array tasks; keep it equal to the --array range's size below
#
#SBATCH --job-name=xaidesk-shard
#SBATCH --array=0-7
#SBATCH --cpus-per-task=4
#SBATCH --mem=8G
#SBATCH --time=02:00:00
#SBATCH --output=xaidesk-shard-%A_%a.log
##SBATCH --gres=gpu:1

set -euo pipefail

INPUT=${INPUT:-/cluster/data/images}
RUNS=${RUNS:-/cluster/runs/images-lrp.shards}
OUT=${OUT:-/cluster/runs/images-lrp}
MODEL=${MODEL:-torchvision:resnet50:/cluster/models/resnet50.pt}
METHODS=${METHODS:-lrp.epsilon_plus_flat}
DEVICE=${DEVICE:-cpu}
SHARDS=${SHARDS:-8}

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
    # Run by hand on the login node: submit the array, then the merge once every task ended well.
    array=$(sbatch --parsable --export=ALL,INPUT="$INPUT",RUNS="$RUNS",OUT="$OUT",MODEL="$MODEL",METHODS="$METHODS",DEVICE="$DEVICE",SHARDS="$SHARDS" --array=0-$((SHARDS - 1)) "$0")
    sbatch --dependency=afterok:"$array" --job-name=xaidesk-merge --time=00:30:00 \
        --wrap="xaidesk batch --merge $RUNS/*-of-$SHARDS --out $OUT"
    echo "submitted array job $array and its merge into $OUT"
    exit 0
fi

COUNT=${SLURM_ARRAY_TASK_COUNT:-$SHARDS}
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
mkdir -p "$RUNS"
# Shards are numbered from 0, like SLURM's array task ids. Rerunning a task (or the whole array)
# resumes it: the files already explained in its run folder are kept.
xaidesk batch "$INPUT" --model "$MODEL" --methods "$METHODS" --device "$DEVICE" \
    --shard "$SLURM_ARRAY_TASK_ID/$COUNT" --out "$RUNS/$SLURM_ARRAY_TASK_ID-of-$COUNT"
