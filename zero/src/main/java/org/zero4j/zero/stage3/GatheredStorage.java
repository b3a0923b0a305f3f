package org.zero4j.zero.stage3;

import org.bytedeco.pytorch.DataPtr;
import org.bytedeco.pytorch.Storage;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import org.zero4j.zero.Precision;

/**
 * The full (gathered) flat buffer of one sharding unit, whose memory exists only while the unit is
 * gathered.
 *
 * <p>Note [free the storage, not just the param]: autograd saves views of parameters for backward
 * ({@code weight.t()} for a Linear), and those views share the storage of the gathered buffer.
 * Pointing the parameters at empty tensors would leave that storage alive through the saved views,
 * so nothing would be freed between forward and backward. Instead the buffer's {@code StorageImpl}
 * itself is shrunk to 0 bytes on release and given a fresh allocation before the next gather (as
 * FSDP does with {@code untyped_storage().resize_(0)}); the saved views keep pointing at the same
 * {@code StorageImpl}, so once the gather has refilled it they read the gathered values again.
 * Writing into the buffer bumps only the buffer's own version counter: a parameter re-pointed with
 * {@code set_data} keeps its own counter, so autograd's saved-tensor checks do not trip.
 */
final class GatheredStorage implements AutoCloseable {

  private final Tensor full;
  private final long bytes;
  private boolean allocated;

  GatheredStorage(long paddedNumel, Precision precision) {
    this.full = precision.empty(paddedNumel);
    this.bytes = full.nbytes();
    this.allocated = true;
    free();
  }

  /** The flat buffer; its data is valid only while {@link #isAllocated()}. */
  Tensor tensor() {
    return full;
  }

  boolean isAllocated() {
    return allocated;
  }

  /** Bytes of the buffer when allocated. */
  long bytes() {
    return bytes;
  }

  /** Gives the storage a fresh allocation of the full size (contents undefined). */
  void allocate() {
    if (allocated) {
      return;
    }
    Storage s = full.storage();
    try (DataPtr p = torch.getCPUAllocator()._allocate(bytes)) {
      s.set_data_ptr_noswap(p); // moves the allocation into the storage; p is left empty
    }
    s.set_nbytes(bytes);
    allocated = true;
  }

  /** Frees the storage's memory, also for every view autograd saved of it. */
  void free() {
    if (!allocated) {
      return;
    }
    Storage s = full.storage();
    try (DataPtr none = new DataPtr()) {
      s.set_data_ptr_noswap(none);
    }
    s.set_nbytes(0);
    allocated = false;
  }

  @Override
  public void close() {
    free();
    full.close();
  }
}
