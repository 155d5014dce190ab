# mk/core.mk - placeholder until its area lands
