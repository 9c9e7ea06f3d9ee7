"""Sixteen short papers in four far-apart topics (proteins, galaxies, economics, robots): enough for the
real encoder to tell neighbours from strangers (similar papers, "for you")."""

from __future__ import annotations

from datetime import date

from paperscope.model import Paper

TOPICS = {
    "q-bio.BM": [
        ("Protein structure prediction with deep learning",
         "Amino acid sequences are folded into 3D shapes."),
        ("Protein folding dynamics simulated at atomic detail",
         "Molecular dynamics shows how proteins fold."),
        ("Predicting protein contacts from coevolution",
         "Residue pairs that coevolve touch in the folded protein."),
        ("Designing new proteins with generative models", "Novel protein backbones are sampled and folded."),
    ],
    "astro-ph.GA": [
        ("Dark matter halos of dwarf galaxies", "Rotation curves constrain the mass of small galaxies."),
        ("Star formation in spiral galaxy arms",
         "Molecular clouds collapse into young stars along the arms."),
        ("Galaxy mergers and their supermassive black holes",
         "Colliding galaxies feed their central black holes."),
        ("The stellar halo of the Milky Way galaxy", "Old stars around our galaxy record past accretion."),
    ],
    "econ.GN": [
        ("Inflation expectations of households", "Surveys show how consumers anticipate rising prices."),
        ("Minimum wage effects on employment", "Raising the wage floor changes hiring in restaurants."),
        ("Housing prices and interest rates", "Mortgage rates drive the cost of homes and rents."),
        ("Monetary policy and inflation", "Central banks raise interest rates to slow price growth."),
    ],
    "cs.RO": [
        ("Legged robots walking on rough terrain", "A quadruped robot learns to walk over rocks and stairs."),
        ("Robotic grasping of unknown objects", "A robot hand picks up household items it has never seen."),
        ("Drone navigation in dense forests", "Small aerial robots avoid trees while flying fast."),
        ("Motion planning for mobile robots", "A robot plans collision-free paths through a warehouse."),
    ],
}


def corpus() -> list[Paper]:
    papers = []
    for t, (category, items) in enumerate(TOPICS.items()):
        for i, (title, abstract) in enumerate(items):
            papers.append(Paper(arxiv_id=f"2504.{t + 1:02d}{i + 1:03d}", version=1, title=title,
                                abstract=abstract, authors=("A. Author",), categories=(category,),
                                listed=date(2025, 4, 1 + i), source="test"))
    return papers
