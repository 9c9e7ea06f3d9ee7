"""paperscope.mail"""
