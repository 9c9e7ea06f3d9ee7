"""paperscope.embed"""
