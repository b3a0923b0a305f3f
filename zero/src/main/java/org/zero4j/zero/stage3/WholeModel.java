package org.zero4j.zero.stage3;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ObjIntConsumer;
import org.bytedeco.pytorch.Tensor;
import org.zero4j.zero.NamedParameter;

/**
 * Access to whole parameters outside forward and backward: every unit gathered in turn (copies, the
 * 16-bit state dict, streaming to a file) or the units holding chosen parameters. Each is a
 * collective that every rank runs at the same point, between steps.
 */
final class WholeModel {

  private final List<NamedParameter> params;
  private final UnitLayout layout;
  private final UnitLifecycle lifecycle;
  private final UnitFragments fragments;
  private final int rank;

  WholeModel(
      List<NamedParameter> params,
      UnitLayout layout,
      UnitLifecycle lifecycle,
      UnitFragments fragments,
      int rank) {
    this.params = params;
    this.layout = layout;
    this.lifecycle = lifecycle;
    this.fragments = fragments;
    this.rank = rank;
  }

  /** A copy of each parameter's full value, in registration order, on every rank. */
  List<Tensor> fullParameters() {
    Map<Long, Tensor> copies = copies(true);
    List<Tensor> out = new ArrayList<>();
    for (NamedParameter p : params) {
      out.add(copies.get(UnitAssignment.identity(p.tensor())));
    }
    return out;
  }

  /** On {@code root} a map from parameter name to a copy, in registration order; else empty. */
  Map<String, Tensor> consolidatedStateDict(int root) {
    Map<Long, Tensor> copies = copies(rank == root);
    Map<String, Tensor> out = new LinkedHashMap<>();
    if (rank == root) {
      for (NamedParameter p : params) {
        out.put(p.name(), copies.get(UnitAssignment.identity(p.tensor())));
      }
    }
    return out;
  }

  // Gathers one unit at a time; copies its parameters (if keep) before releasing it.
  private Map<Long, Tensor> copies(boolean keep) {
    Map<Long, Tensor> copies = new HashMap<>();
    for (UnitParams u : layout.units()) {
      lifecycle.gatherNow(u);
      if (keep) {
        for (NamedParameter p : u.params()) {
          copies.put(UnitAssignment.identity(p.tensor()), p.tensor().detach().clone());
        }
      }
      lifecycle.releaseNow(u);
    }
    return copies;
  }

  /**
   * Gathers one unit at a time; on {@code root} visits each of its parameters (full value, working
   * precision, registration index) while it is gathered, then releases it unless it is persistent.
   */
  void streamParameters(int root, ObjIntConsumer<Tensor> visitor) {
    Map<Long, Integer> index = fragments.registrationIndex();
    for (UnitParams u : layout.units()) {
      lifecycle.gatherNow(u);
      try {
        if (rank == root) {
          for (NamedParameter p : u.params()) {
            visitor.accept(p.tensor(), index.get(UnitAssignment.identity(p.tensor())));
          }
        }
      } finally {
        lifecycle.releaseNow(u);
      }
    }
  }

  /**
   * The units holding {@code parameters}, in unit order.
   *
   * @throws IllegalArgumentException if a tensor is not a managed parameter
   */
  List<UnitParams> unitsHolding(List<Tensor> parameters) {
    Set<Long> wanted = new HashSet<>();
    for (Tensor t : parameters) {
      wanted.add(UnitAssignment.identity(t));
    }
    List<UnitParams> chosen = new ArrayList<>();
    for (UnitParams u : layout.units()) {
      for (NamedParameter p : u.params()) {
        if (wanted.remove(UnitAssignment.identity(p.tensor())) && !chosen.contains(u)) {
          chosen.add(u);
        }
      }
    }
    if (!wanted.isEmpty()) {
      throw new IllegalArgumentException(
          wanted.size()
              + " of the tensors to gather are not parameters managed by this ZeRO stage-3"
              + " optimizer; pass the model's own trainable parameters");
    }
    return chosen;
  }
}
