"""paperscope.feed"""
