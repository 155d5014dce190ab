# mk/flavors.mk - placeholder until its area lands
