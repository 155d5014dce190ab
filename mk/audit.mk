# mk/audit.mk - placeholder until its area lands
