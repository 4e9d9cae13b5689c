// Block-layer helpers shared by the block I/O tools' BPF programs.
#ifndef BPFKIT_BPF_BLOCK_H
#define BPFKIT_BPF_BLOCK_H

// The request's disk as a kernel dev_t (major << 20 | minor), read through CO-RE:
// `rq->q->disk` since Linux 5.17, `rq->rq_disk` before (a ___flavor fallback).
static __always_inline uint32_t request_dev(struct request *rq) {
    struct gendisk *disk;
    if (bpf_core_field_exists(((struct request___rq_disk *)rq)->rq_disk))
        disk = BPF_CORE_READ((struct request___rq_disk *)rq, rq_disk);
    else {
        struct request_queue *q = BPF_CORE_READ(rq, q);
        disk = BPF_CORE_READ(q, disk);
    }
    if (!disk)
        return 0;
    return ((uint32_t)BPF_CORE_READ(disk, major) << 20) | (uint32_t)BPF_CORE_READ(disk, first_minor);
}

#endif
