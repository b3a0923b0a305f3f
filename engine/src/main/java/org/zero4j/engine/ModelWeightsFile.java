package org.zero4j.engine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.pytorch.InputArchive;
import org.bytedeco.pytorch.OutputArchive;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;

/**
 * The model's weights in its working precision as one libtorch archive ({@code
 * torch::serialize::OutputArchive}): one tensor per parameter name, as in a state dict. Written by
 * {@link Engine#save16BitModel(Path)} (DeepSpeed's {@code save_16bit_model}), read back with {@link
 * #read(Path)} or C++'s {@code torch::serialize::InputArchive}.
 */
public final class ModelWeightsFile {

  private ModelWeightsFile() {}

  static void write(Path file, Map<String, Tensor> weights) {
    try {
      Path parent = file.toAbsolutePath().getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException("cannot create the directory of " + file, e);
    }
    OutputArchive archive = new OutputArchive();
    try {
      for (Map.Entry<String, Tensor> e : weights.entrySet()) {
        archive.write(e.getKey(), e.getValue(), false);
      }
      archive.save_to(file.toString());
    } finally {
      archive.close();
    }
  }

  /** Reads the tensors named {@code names} from a file written by {@link Engine#save16BitModel}. */
  public static Map<String, Tensor> read(Path file, Iterable<String> names) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    InputArchive archive = new InputArchive();
    try {
      archive.load_from(file.toString());
      for (String name : names) {
        Tensor t = new Tensor();
        if (!archive.try_read(name, t)) {
          throw new IllegalArgumentException(file + " has no tensor named " + name);
        }
        out.put(name, t);
      }
    } finally {
      archive.close();
    }
    return out;
  }

  /** Copies of whole parameters (stages 0-2, where every rank holds them). */
  static Map<String, Tensor> copies(Iterable<NamedParameter> params) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    for (NamedParameter p : params) {
      out.put(p.name(), p.tensor().detach().clone());
    }
    return out;
  }
}
