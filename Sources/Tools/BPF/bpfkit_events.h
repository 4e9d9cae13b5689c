// The output channel of BPFKit's event tools: one ring buffer, `events`, and a count of the
// records it refused (`lost_events`, read and reported by the tool at exit). Include once,
// after bpf_helpers.h; define EVENTS_RING_BYTES first for another size.
#ifndef BPFKIT_EVENTS_H
#define BPFKIT_EVENTS_H

#ifndef EVENTS_RING_BYTES
// The reader maps the ring twice (so records never wrap): it costs the tool twice this in RSS.
#define EVENTS_RING_BYTES (256 * 1024)
#endif

uint64_t lost_events = 0;

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, EVENTS_RING_BYTES);
} events SEC(".maps");

// Reserves room for an event; counts a loss when the ring is full.
static __always_inline void *reserve_event(uint64_t size) {
    void *event = bpf_ringbuf_reserve(&events, size, 0);
    if (!event)
        __sync_fetch_and_add(&lost_events, 1);
    return event;
}

// Copies an event into the ring; counts a loss when the ring is full.
static __always_inline void output_event(void *data, uint64_t size) {
    if (bpf_ringbuf_output(&events, data, size, 0))
        __sync_fetch_and_add(&lost_events, 1);
}

#endif
