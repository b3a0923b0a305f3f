package org.zero4j.zero;

import java.util.ArrayList;
import java.util.List;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.kernels.adam.AdamHyperparams;
import org.zero4j.kernels.adam.FlatAdam;
import org.zero4j.offload.swap.AsyncSwapper;
import org.zero4j.offload.swap.HostBytes;
import org.zero4j.offload.swap.SwapBuffer;
import org.zero4j.offload.swap.SwapBufferPool;
import org.zero4j.offload.swap.SwapDirectory;
import org.zero4j.offload.swap.SwapFile;
import org.zero4j.offload.swap.SwapLayout;
import org.zero4j.offload.swap.SwapOp;

/**
 * A rank's fp32 master shard and Adam moments kept in a swap file under {@code nvme_path}, updated
 * sub-group by sub-group through a small pool of host buffers (ZeRO-Infinity's optimizer swapping).
 *
 * <p>File layout: the shard is cut into sub-groups of {@code sub_group_size} elements; sub-group
 * {@code g} holds its master, exp_avg and exp_avg_sq back to back, so one sub-group is one
 * contiguous region of the disk. Each of the three starts at a multiple of {@link
 * SwapLayout#BLOCK}, its {@code 4 n} bytes padded up to one ({@code stride} for full sub-groups),
 * so that swap I/O moves all but a last partial block past the page cache (see {@link SwapLayout}).
 *
 * <p>Note [swap pipeline]: sub-group g uses buffer slot {@code g % slots}, where a slot is 3 pool
 * buffers and {@code slots = buffer_count / 3}. With {@code pipeline_read} (and 2 or more slots)
 * the read of g + 1 is issued before g is computed; with {@code pipeline_write} the write-back of g
 * is left running while g + 1 is read and computed. A slot is reused only after its previous write
 * has completed. With 3 slots both overlaps are full; with 2 the prefetch of g + 1 waits for the
 * write of g - 1. Without either flag the swapper is synchronous, as DeepSpeed's partitioned
 * (non-pipelined) swapper. The update of each element is the same kernel call on the same values as
 * the in-memory path, so results are bit-identical to it.
 *
 * <p>Resident memory: the pool ({@code buffer_count x min(sub_group_size, shard) x 4} bytes) is the
 * only host memory the state passes through; the file is read and written with {@code pread}/{@code
 * pwrite}, never mapped, mostly with {@code O_DIRECT}; what does pass through the kernel's page
 * cache (partial blocks, or everything where the filesystem refuses {@code O_DIRECT}) is
 * reclaimable, not part of this process's resident set, and flushed ({@code fdatasync}) after each
 * sub-group's write-back.
 */
final class SwappedOptimizerShard implements OptimizerState {

  private static final int TENSORS = 3;

  private final long numel;
  private final long subGroup;
  private final long stride;
  private final SwapFile file;
  private final AsyncSwapper swapper;
  private final SwapBufferPool pool;
  private final int slots;
  private final boolean pipelineRead;
  private final boolean pipelineWrite;

  private SwappedOptimizerShard(long numel, OptimizerOffload offload, SwapDirectory dir, int rank) {
    this.numel = numel;
    this.subGroup = subGroupOf(numel, offload);
    this.stride = SwapLayout.align(subGroup * Float.BYTES);
    this.pipelineRead = offload.config().pipelineRead();
    this.pipelineWrite = offload.config().pipelineWrite();
    int buffers = offload.config().bufferCount();
    this.slots = buffers / TENSORS;
    SwapFile f = SwapFile.create(dir, "optim", rank, bytesFor(numel, offload));
    try {
      this.swapper = new AsyncSwapper(offload.aio());
    } catch (RuntimeException e) {
      f.close();
      throw e;
    }
    this.file = f;
    try {
      this.pool = new SwapBufferPool("rank" + rank + "-optimizer-swap", slots * TENSORS, subGroup);
    } catch (RuntimeException e) {
      swapper.close();
      f.close();
      throw e;
    }
  }

  private static long subGroupOf(long numel, OptimizerOffload offload) {
    return Math.min(offload.subGroupSize(), Math.max(1, numel));
  }

  /** Bytes of swap file a shard of {@code numel} elements needs, with the layout's padding. */
  static long bytesFor(long numel, OptimizerOffload offload) {
    long subGroup = subGroupOf(numel, offload);
    long full = numel / subGroup;
    long tail = numel % subGroup;
    return TENSORS
        * (full * SwapLayout.align(subGroup * Float.BYTES) + SwapLayout.align(tail * Float.BYTES));
  }

  /**
   * Creates {@code rank}'s swap file, writes the master weights from {@code source} and, unless
   * {@code fast_init}, zeroed moments.
   */
  static SwappedOptimizerShard create(
      long numel, MasterSource source, int rank, OptimizerOffload offload) {
    SwapDirectory dir =
        SwapDirectory.open(
            "zero_optimization.offload_optimizer.nvme_path",
            offload.config().nvmePath(),
            bytesFor(numel, offload),
            offload.freeSpace());
    SwappedOptimizerShard s = new SwappedOptimizerShard(numel, offload, dir, rank);
    try {
      s.initialize(source, !offload.config().fastInit());
      return s;
    } catch (RuntimeException e) {
      s.close();
      throw e;
    }
  }

  private void initialize(MasterSource source, boolean zeroMoments) {
    SwapBuffer buf = pool.acquire();
    try {
      for (long s = 0; s < numel; s += subGroup) {
        long n = Math.min(subGroup, numel - s);
        try (Tensor dst = buf.floats(n)) {
          source.fill(s, dst);
        }
        swapper.write(file, offset(s, n, AdamState.MASTER), buf.bytes(n)).await();
      }
      if (zeroMoments) {
        try (Tensor z = buf.floats(subGroup)) {
          z.zero_();
        }
        for (long s = 0; s < numel; s += subGroup) {
          long n = Math.min(subGroup, numel - s);
          swapper.write(file, offset(s, n, AdamState.EXP_AVG), buf.bytes(n)).await();
          swapper.write(file, offset(s, n, AdamState.EXP_AVG_SQ), buf.bytes(n)).await();
        }
      }
      file.flush();
    } finally {
      pool.release(buf);
    }
  }

  // Sub-group [start, start + n) of one state; start is a multiple of subGroup.
  private long offset(long start, long n, AdamState which) {
    return start / subGroup * TENSORS * stride
        + which.ordinal() * SwapLayout.align(n * Float.BYTES);
  }

  /** One sub-group's buffers and outstanding I/O. */
  private final class Slot {
    final SwapBuffer[] bufs = new SwapBuffer[TENSORS];
    final List<SwapOp> reads = new ArrayList<>();
    final List<SwapOp> writes = new ArrayList<>();

    Slot() {
      for (int i = 0; i < TENSORS; i++) {
        bufs[i] = pool.acquire();
      }
    }

    void read(long s, long n) {
      awaitAll(writes);
      for (AdamState which : AdamState.values()) {
        reads.add(swapper.read(file, offset(s, n, which), bufs[which.ordinal()].bytes(n)));
      }
    }

    void write(long s, long n) {
      for (AdamState which : AdamState.values()) {
        writes.add(swapper.write(file, offset(s, n, which), bufs[which.ordinal()].bytes(n)));
      }
      writes.add(swapper.sync(file));
    }
  }

  // Waits for every op, even after one fails, so no request still uses a buffer on return.
  private static void awaitAll(List<SwapOp> ops) {
    RuntimeException failure = null;
    for (SwapOp op : ops) {
      try {
        op.await();
      } catch (RuntimeException e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    ops.clear();
    if (failure != null) {
      throw failure;
    }
  }

  /**
   * One Adam step over the whole shard, sub-group by sub-group (see Note [swap pipeline]), handing
   * each updated master sub-group to {@code updated} before its write-back starts.
   */
  @Override
  @SuppressWarnings("try")
  public void update(FlatAdam adam, Gradient grad, AdamHyperparams hp, long step, Updated updated) {
    int groups = (int) ((numel + subGroup - 1) / subGroup);
    int used = Math.min(slots, groups);
    List<Slot> ring = new ArrayList<>();
    RuntimeException failure = null;
    try {
      for (int i = 0; i < used; i++) {
        ring.add(new Slot());
      }
      boolean prefetch = pipelineRead && used >= 2;
      ring.get(0).read(0, Math.min(subGroup, numel));
      for (int g = 0; g < groups; g++) {
        long s = g * subGroup;
        long n = Math.min(subGroup, numel - s);
        Slot slot = ring.get(g % used);
        if (prefetch && g + 1 < groups) {
          long s1 = s + subGroup;
          ring.get((g + 1) % used).read(s1, Math.min(subGroup, numel - s1));
        }
        awaitAll(slot.reads);
        try (Tensor p = slot.bufs[0].floats(n);
            Tensor m = slot.bufs[1].floats(n);
            Tensor v = slot.bufs[2].floats(n);
            Tensor gr = grad.fp32(s, n)) {
          adam.step(p, m, v, gr, hp, step);
          updated.accept(s, p);
        }
        slot.write(s, n);
        if (!pipelineWrite) {
          awaitAll(slot.writes);
        }
        if (!prefetch && g + 1 < groups) {
          long s1 = s + subGroup;
          ring.get((g + 1) % used).read(s1, Math.min(subGroup, numel - s1));
        }
      }
    } catch (RuntimeException e) {
      failure = e;
    } finally {
      failure = drain(ring, failure);
    }
    if (failure != null) {
      throw failure;
    }
  }

  // Every outstanding request must finish before its buffer goes back to the pool.
  private RuntimeException drain(List<Slot> ring, RuntimeException failure) {
    for (Slot slot : ring) {
      for (List<SwapOp> ops : List.of(slot.reads, slot.writes)) {
        for (SwapOp op : ops) {
          try {
            op.await();
          } catch (RuntimeException e) {
            if (failure == null) {
              failure = e;
            } else {
              failure.addSuppressed(e);
            }
          }
        }
        ops.clear();
      }
      for (SwapBuffer b : slot.bufs) {
        if (b != null) {
          pool.release(b);
        }
      }
    }
    return failure;
  }

  @Override
  public void read(AdamState which, long from, Tensor dst) {
    transfer(which, from, dst, false);
  }

  @Override
  public void write(AdamState which, long from, Tensor src) {
    transfer(which, from, src, true);
    file.flush();
  }

  private void transfer(AdamState which, long from, Tensor t, boolean write) {
    long count = t.numel();
    if (from < 0 || from + count > numel || t.scalar_type().value != torch.ScalarType.Float.value) {
      throw new IllegalArgumentException(
          "optimizer state range ["
              + from
              + ", "
              + (from + count)
              + ") must lie in [0, "
              + numel
              + ") and the tensor must be fp32");
    }
    var bytes = HostBytes.of(t);
    List<SwapOp> ops = new ArrayList<>();
    long end = from + count;
    for (long s = from / subGroup * subGroup; s < end; s += subGroup) {
      long n = Math.min(subGroup, numel - s);
      long lo = Math.max(from, s);
      long hi = Math.min(end, s + n);
      var part = bytes.duplicate();
      part.position((int) ((lo - from) * Float.BYTES)).limit((int) ((hi - from) * Float.BYTES));
      long pos = offset(s, n, which) + (lo - s) * Float.BYTES;
      ops.add(write ? swapper.write(file, pos, part) : swapper.read(file, pos, part));
    }
    awaitAll(ops);
  }

  @Override
  public long numel() {
    return numel;
  }

  @Override
  public Tensor tensor(AdamState which) {
    throw new IllegalStateException(
        which
            + " is not in memory: offload_optimizer.device is nvme and the state lives in a swap"
            + " file; read or write it in ranges");
  }

  @Override
  public boolean swapped() {
    return true;
  }

  @Override
  public long nvmeBytes() {
    return file.size();
  }

  @Override
  public long hostBytes() {
    return pool.bytes();
  }

  @Override
  public long masterBytes() {
    return numel * Float.BYTES;
  }

  @Override
  public long momentBytes() {
    return 2 * numel * Float.BYTES;
  }

  @Override
  public void close() {
    try {
      swapper.close();
    } finally {
      try {
        pool.close();
      } finally {
        file.close();
      }
    }
  }
}
