enum BPFObjects {}
