package org.zero4j.offload.swap;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.zero4j.offload.AioConfig;

/**
 * Asynchronous positional reads and writes between {@link SwapBuffer}s and {@link SwapFile}s, with
 * DeepSpeed's {@code aio} knobs: each operation is cut into {@code block_size} requests, {@code
 * intra_op_parallelism} threads run them, and at most {@code queue_depth} requests are in flight.
 *
 * <p>Note [submission modes]: by default requests of one operation are submitted in batches ({@code
 * io_submit} of several iocbs in DeepSpeed's aio); {@code single_submit} submits one request at a
 * time. With {@code overlap_events} (the default) submission overlaps completion: as soon as a slot
 * frees, the dispatcher submits as many requests as there are free slots, so the queue stays full
 * (a batch waiting for all {@code queue_depth} slots would drain the queue before each batch and
 * leave the disk idle for a thread wake-up each time). With {@code overlap_events = false} a batch
 * of up to {@code queue_depth} requests (or a single request) is submitted on an empty queue and
 * the dispatcher waits for it to complete before it submits the next.
 *
 * <p>Note [swapper threads]: {@link #read} and {@link #write} only enqueue; one dispatcher thread
 * cuts operations into requests in submission order and waits for a queue slot, so the caller (the
 * optimizer step) never blocks on the queue depth and can compute while I/O runs. Worker threads
 * issue {@code pread}/{@code pwrite} through {@link FileChannel}, which is safe for concurrent
 * positional calls on one channel.
 *
 * <p>Note [direct and buffered parts]: where the file has an {@code O_DIRECT} descriptor and a
 * request's buffer address and file offset are equally placed within a block, the request's whole
 * blocks go through that descriptor, past the page cache, and only its partial first and last
 * blocks through the buffered one. With {@link SwapLayout}'s block-aligned regions and staging
 * buffers, that leaves one partial block per region at most. Any other request is buffered whole.
 * Direct transfers skip the kernel's copy through the page cache and keep that cache from filling
 * with swapped state; with staging buffers on huge pages they measured at or above {@code dd}'s
 * bandwidth, where buffered reads stayed below it (BENCHMARKS.md, OffloadBench).
 */
public final class AsyncSwapper implements AutoCloseable {

  private record Request(SwapOp op, boolean write, SwapFile file, long pos, ByteBuffer buf) {}

  private record Pending(
      SwapOp op, boolean write, SwapFile file, long pos, ByteBuffer buf, boolean sync) {}

  private static final AtomicInteger SWAPPERS = new AtomicInteger();

  private final AioConfig aio;
  private final ExecutorService workers;
  private final Thread dispatcher;
  private final Semaphore slots;
  private final LinkedBlockingQueue<Pending> queue = new LinkedBlockingQueue<>();
  private volatile boolean closed;

  /** A swapper with the given {@code aio} settings. */
  public AsyncSwapper(AioConfig aio) {
    this.aio = aio;
    int id = SWAPPERS.incrementAndGet();
    AtomicInteger n = new AtomicInteger();
    this.workers =
        Executors.newFixedThreadPool(
            aio.intraOpParallelism(),
            r -> {
              Thread t = new Thread(r, "zero4j-aio-" + id + "-" + n.incrementAndGet());
              t.setDaemon(true);
              return t;
            });
    this.slots = new Semaphore(aio.queueDepth());
    this.dispatcher = new Thread(this::dispatch, "zero4j-aio-" + id + "-dispatch");
    dispatcher.setDaemon(true);
    dispatcher.start();
  }

  /**
   * Starts reading {@code dst.remaining()} bytes at {@code pos} of {@code file} into {@code dst}.
   */
  public SwapOp read(SwapFile file, long pos, ByteBuffer dst) {
    return submit(false, file, pos, dst);
  }

  /** Starts writing {@code src.remaining()} bytes of {@code src} to {@code file} at {@code pos}. */
  public SwapOp write(SwapFile file, long pos, ByteBuffer src) {
    return submit(true, file, pos, src);
  }

  private SwapOp submit(boolean write, SwapFile file, long pos, ByteBuffer buf) {
    if (closed) {
      throw new IllegalStateException("the swapper is closed");
    }
    if (pos < 0 || pos + buf.remaining() > file.size()) {
      throw new IllegalArgumentException(
          (write ? "write" : "read")
              + " of "
              + buf.remaining()
              + " bytes at "
              + pos
              + " is outside swap file "
              + file.path()
              + " of "
              + file.size()
              + " bytes");
    }
    int requests =
        (int) Math.max(1, (buf.remaining() + (long) aio.blockSize() - 1) / aio.blockSize());
    String what =
        "swap "
            + (write ? "write of " : "read of ")
            + buf.remaining()
            + " bytes at offset "
            + pos
            + " of "
            + file.path();
    SwapOp op = new SwapOp(what, requests);
    queue.add(new Pending(op, write, file, pos, buf.slice(), false));
    return op;
  }

  /**
   * Starts a flush of {@code file} to the device ({@code fdatasync}) once every operation submitted
   * before it has completed. Operations submitted after it start when it is done.
   *
   * <p>Note [flush in the pipeline]: buffered positional writes (all of them where the filesystem
   * refuses {@code O_DIRECT}, and the partial blocks otherwise) land in the page cache and return;
   * the disk transfer happens at writeback, and a direct write into a hole still leaves the extent
   * metadata to write back. Flushing after each sub-group's write-back, on the I/O threads,
   * overlaps that transfer with the next sub-group's update instead of leaving it all to one flush
   * at the end of the step, and keeps the dirty page cache bounded by about one sub-group.
   */
  public SwapOp sync(SwapFile file) {
    if (closed) {
      throw new IllegalStateException("the swapper is closed");
    }
    SwapOp op = new SwapOp("flush of " + file.path(), 1);
    queue.add(new Pending(op, true, file, 0, null, true));
    return op;
  }

  private void dispatch() {
    try {
      while (true) {
        Pending p = queue.take();
        if (p.op == null) {
          return;
        }
        if (p.sync) {
          slots.acquire(aio.queueDepth()); // every earlier request has completed
          Throwable error = null;
          try {
            p.file.channel().force(false);
          } catch (IOException | RuntimeException e) {
            error = e;
          } finally {
            slots.release(aio.queueDepth());
            p.op.requestDone(error);
          }
          continue;
        }
        ByteBuffer all = p.buf;
        int total = all.remaining();
        int off = 0;
        do {
          int left =
              (int) Math.max(1, (total - off + (long) aio.blockSize() - 1) / aio.blockSize());
          int batch = aio.singleSubmit() ? 1 : Math.min(aio.queueDepth(), left);
          if (aio.overlapEvents()) {
            slots.acquire();
            int free = slots.drainPermits();
            int more = Math.min(batch - 1, free);
            slots.release(free - more);
            batch = 1 + more;
          } else {
            slots.acquire(batch);
          }
          for (int i = 0; i < batch; i++) {
            int len = Math.min(aio.blockSize(), total - off);
            ByteBuffer part = all.duplicate();
            part.position(off).limit(off + len);
            Request r = new Request(p.op, p.write, p.file, p.pos + off, part.slice());
            workers.execute(() -> run(r));
            off += len;
          }
          if (!aio.overlapEvents()) {
            slots.acquire(batch); // the batch has completed
            slots.release(batch);
          }
        } while (off < total);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void run(Request r) {
    Throwable error = null;
    try {
      ByteBuffer b = r.buf;
      int len = b.remaining();
      int block = r.file.block();
      FileChannel direct = r.file.directChannel();
      if (direct != null
          && b.isDirect()
          && Math.floorMod(b.alignmentOffset(0, block) - r.pos, block) == 0) {
        // Note [direct and buffered parts]
        int head = (int) Math.min(len, Math.floorMod(-r.pos, (long) block));
        int body = (len - head) / block * block;
        move(r, direct, part(b, head, body), r.pos + head);
        move(r, r.file.channel(), part(b, 0, head), r.pos);
        move(r, r.file.channel(), part(b, head + body, len - head - body), r.pos + head + body);
      } else {
        move(r, r.file.channel(), b, r.pos);
      }
    } catch (IOException | RuntimeException e) {
      error = e;
    } finally {
      slots.release();
      r.op.requestDone(error);
    }
  }

  private static ByteBuffer part(ByteBuffer b, int off, int len) {
    return b.duplicate().position(off).limit(off + len).slice();
  }

  // A direct transfer that comes back short of a block multiple (a signal, or the end of a file
  // being truncated) finishes on the buffered descriptor, which takes any alignment.
  private static void move(Request r, FileChannel ch, ByteBuffer b, long pos) throws IOException {
    while (b.hasRemaining()) {
      int n = r.write ? ch.write(b, pos) : ch.read(b, pos);
      if (n < 0) {
        throw new EOFException("swap file " + r.file.path() + " ends before offset " + pos);
      }
      pos += n;
      if (ch != r.file.channel() && n % r.file.block() != 0) {
        ch = r.file.channel();
      }
    }
  }

  /** The settings. */
  public AioConfig aio() {
    return aio;
  }

  /** Stops the threads after the operations already submitted. */
  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    queue.add(new Pending(null, false, null, 0, null, false));
    try {
      dispatcher.join();
      workers.shutdown();
      if (!workers.awaitTermination(60, TimeUnit.SECONDS)) {
        throw new IllegalStateException("swap I/O threads did not finish within 60 s of close()");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
