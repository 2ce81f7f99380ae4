#!/bin/bash
# Dataset mode on a Dask cluster inside one SLURM allocation: a scheduler on the first node, Dask
# workers on every node, and 'xaidesk batch --executor dask' handing the run to them. The shards are
# written to OUT.shards/<i>-of-<n> and merged into OUT when all are done. Rerun the same script to
# resume after a failure. See docs/cluster.md.
#
# Needs on every node: pip install "xaidesk[cluster]" (the same versions everywhere).
#
# Set these:
#   INPUT    the folder of images or sound clips, on a file system every node sees at the same path
#   OUT      the run folder (new, or one this script wrote before: then it resumes); shared too
#   MODEL    the model spec; its file must be readable from every node
#   METHODS  method names separated by commas ('xaidesk methods' lists them)
#   DEVICE   cpu, or cuda with one GPU per worker (uncomment the --gres line, set GPUS_PER_NODE)
#   GPUS_PER_NODE  with cuda: the GPUs of each node (one worker per GPU)
#   PORT     the scheduler's port, open between the nodes
#
#SBATCH --job-name=xaidesk-dask
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=16
#SBATCH --mem=32G
#SBATCH --time=04:00:00
#SBATCH --output=xaidesk-dask-%j.log
##SBATCH --gres=gpu:4

set -euo pipefail

INPUT=${INPUT:-/cluster/data/images}
OUT=${OUT:-/cluster/runs/images-lrp}
MODEL=${MODEL:-torchvision:resnet50:/cluster/models/resnet50.pt}
METHODS=${METHODS:-lrp.epsilon_plus_flat}
DEVICE=${DEVICE:-cpu}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
PORT=${PORT:-8786}

ADDRESS="tcp://$(hostname):$PORT"
dask scheduler --port "$PORT" --no-dashboard &
SCHEDULER=$!
trap 'kill $SCHEDULER 2>/dev/null || true; kill $WORKERS 2>/dev/null || true' EXIT
sleep 5

if [ "$DEVICE" = cuda ]; then
    # One worker process per GPU, each seeing only its GPU and offering it as the resource GPU=1:
    # every shard task asks for GPU=1, so no two tasks share a GPU.
    srun --ntasks-per-node=1 bash -c "for g in \$(seq 0 $((GPUS_PER_NODE - 1))); do
        CUDA_VISIBLE_DEVICES=\$g dask worker $ADDRESS --nworkers 1 --nthreads 1 --resources GPU=1 --no-dashboard &
    done; wait" &
else
    # One single-threaded worker process per core: Dask starts each with one torch thread.
    srun --ntasks-per-node=1 dask worker "$ADDRESS" --nworkers "$SLURM_CPUS_PER_TASK" --nthreads 1 \
        --no-dashboard &
fi
WORKERS=$!

# It waits up to a minute for the first worker; more join while it runs. --shards defaults to three
# per worker thread (per GPU on cuda), or the split already in OUT.shards when resuming.
xaidesk batch "$INPUT" --model "$MODEL" --methods "$METHODS" --device "$DEVICE" \
    --executor dask --address "$ADDRESS" --out "$OUT"
