"""paperscope.index"""
