"""Layer-wise relevance propagation (LRP): the ``lrp.*`` methods (registered by importing ``cnn`` and ``attention``).

=========================  ====================================================================
module                     what it holds
=========================  ====================================================================
``cnn``                    the CNN methods (``lrp.epsilon_plus_flat``, ``lrp.epsilon_gamma_box``,
                           ``lrp.epsilon_alpha2_beta1``, ``lrp.custom``), the attribution itself and
                           the faster zennit hooks
``composites``             which canonizers and which zennit rules each CNN method uses
``coverage``               whether the rules cover a model, checked before anything is attached
``canonizers``             canonizers that rewrite modern CNN blocks for one run (batch norms
                           merged, residual sums and gates made explicit)
``block_forwards``         the rewritten forwards of torchvision, timm and onnx2torch blocks
``rules``                  the layer-norm rule (ConvNeXt) shared with the transformer rules
``attention``              LRP for vision transformers (``lrp.attention``, AttnLRP and CP-LRP)
``attention_rules``        the LRP-aware layers that the transformer copy is built from
``attention_families``     which transformer families are known and how their blocks are rewritten
=========================  ====================================================================

See docs/lrp-cnn-rules.md and docs/lrp-transformers.md.
"""
